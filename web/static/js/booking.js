/* The booking form: the police-mediation checklist follows the legal track, and
 * scheduling conflicts are shown as soon as the time or the invitees are chosen.
 *
 * Loaded with `defer` (no inline script under the CSP), in ES5 like the other
 * desk scripts (WeChat's WebView can be old). Without JavaScript the form still
 * works: the checklist shows once police mediation is posted, and booking
 * itself reports the conflicts.
 *
 * The conflicts come from POST data-conflicts-url with the whole form (its CSRF
 * token included); the answer is {"checked": bool, "warnings": [text, ...]}.
 */
(function () {
  "use strict";

  var form = document.getElementById("booking-form");
  if (!form) {
    return;
  }
  var checklist = document.getElementById("police_checks");
  var box = document.getElementById("live-conflicts");
  var url = form.getAttribute("data-conflicts-url");
  var WAIT_MS = 300;
  var timer = null;
  var asked = 0;

  function track() {
    var chosen = form.querySelector('input[name="legal_track"]:checked');
    return chosen ? chosen.value : "";
  }

  function showChecklist() {
    if (checklist) {
      checklist.hidden = track() !== "police";
    }
  }

  function render(warnings) {
    var list = box.querySelector("ul");
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    warnings.forEach(function (text) {
      var item = document.createElement("li");
      item.textContent = text;
      list.appendChild(item);
    });
    box.hidden = warnings.length === 0;
  }

  /* Only the latest answer counts: a slow one for an earlier choice is dropped. */
  function check() {
    if (!url || !window.fetch || !window.FormData) {
      return;
    }
    asked += 1;
    var mine = asked;
    window
      .fetch(url, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (mine === asked && data) {
          render(data.warnings || []);
        }
      })
      .catch(function () {
        /* The check is a convenience: booking checks again and says so. */
      });
  }

  function later() {
    if (timer !== null) {
      window.clearTimeout(timer);
    }
    timer = window.setTimeout(check, WAIT_MS);
  }

  form.addEventListener("change", function (event) {
    var name = event.target && event.target.name;
    if (name === "legal_track") {
      showChecklist();
    }
    if (
      name === "starts_at" ||
      name === "duration_minutes" ||
      name === "presiding_officer_id" ||
      name === "expert_ids"
    ) {
      later();
    }
  });
  showChecklist();
  if (form.querySelector('input[name="starts_at"]').value) {
    later();
  }
})();
