/* Which part of /help/camera answers a refused camera or microphone on this phone.
 *
 * Shared by the door's device check (devicecheck.js) and the room (room.js):
 * both name the same reasons, and a link to the help page should open where
 * the steps for this phone and this reason are, not at the top of a long page.
 * Loaded with <script defer> before them; exports window.ConcordCameraHelp.
 *
 * Reasons: "denied" (the person or the browser said no), "missing" (no such
 * device), "busy" (another app holds it), "insecure" (the page is not on
 * https://, so the browser offers no camera at all), "unsupported" (a browser
 * without camera access, most often an in-app one); anything else is generic.
 */
(function () {
  "use strict";

  var agent = navigator.userAgent || "";
  var isWeChat = /MicroMessenger/i.test(agent);
  // iPadOS says "Macintosh"; only its touch screen tells it from a Mac.
  var isIOS = /iPhone|iPad|iPod/i.test(agent) ||
    (/Macintosh/i.test(agent) && navigator.maxTouchPoints > 1);
  var isAndroid = /Android/i.test(agent);

  /* The id of the help page's section for a reason (the ids are web/templates/door/camera_help.html's). */
  function section(reason) {
    if (reason === "insecure") {
      return "https";
    }
    if (reason === "missing" || reason === "busy") {
      return "busy";
    }
    if (isWeChat || reason === "unsupported") {
      return "wechat";
    }
    if (isIOS) {
      return "ios";
    }
    return isAndroid ? "android" : "help-top";
  }

  /* Aim a link at the section; its data-base is the page's URL with the language kept. */
  function point(link, reason) {
    link.href = link.getAttribute("data-base") + "#" + section(reason);
  }

  window.ConcordCameraHelp = { isWeChat: isWeChat, section: section, point: point };
})();
