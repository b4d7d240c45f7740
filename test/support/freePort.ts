import { createServer } from "node:net"

/** A currently free TCP port on 127.0.0.1 (bind to port 0, read it back, release it): nothing listens there. */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error("could not allocate a port"))))
    })
  })
