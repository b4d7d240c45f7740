/**
 * The notifications service: emails to students, each consequence owned by one consumer (course
 * announcements, enrollment emails, the copy of users' preferences), all in its own database.
 */
import * as Service from "../shared/Service.js"
import { Api } from "./Api.js"
import * as CourseAnnouncements from "./CourseAnnouncements.js"
import * as EnrollmentEmails from "./EnrollmentEmails.js"
import { NotificationsLive } from "./Http.js"
import * as Mail from "./Mail.js"
import * as Preferences from "./Preferences.js"

Service.run({
  name: "notifications",
  api: Api,
  handlers: NotificationsLive,
  consumers: [Preferences, CourseAnnouncements, EnrollmentEmails],
  tables: [Mail.tables]
})
