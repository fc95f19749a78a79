/* 初判 on the registration form: show what the rule would grade the dispute as typed.
 *
 * Asks POST /api/v1/risk-proposal (nothing is stored; the ID numbers go in the body, never
 * in a URL) whenever a field the rule reads changes, once the nature, the trend and the
 * number of people are filled in. The registrar may still choose the grade themselves.
 * ES5 and XMLHttpRequest on purpose: WeChat's in-app WebView can be old.
 */
(function () {
  "use strict";

  var out = document.getElementById("risk-proposal");
  var form = out && out.closest ? out.closest("form") : null;
  if (!out || !form) {
    return;
  }
  var level = out.querySelector("[data-proposal-level]");
  var reasons = out.querySelector("[data-proposal-reasons]");
  var token = form.querySelector('input[name="csrf_token"]');
  var pending = null;

  function value(name) {
    var el = form.elements[name];
    return el ? el.value : "";
  }

  function body() {
    var parties = [];
    for (var slot = 0; slot < 2; slot += 1) {
      var prefix = "parties." + slot + ".";
      var minor = form.elements[prefix + "minor"];
      parties.push({
        id_type: value(prefix + "id_type") || "resident_id",
        id_number: value(prefix + "id_number").slice(0, 40),
        minor: Boolean(minor && minor.checked)
      });
    }
    return {
      trend: value("trend"),
      scale: parseInt(value("scale"), 10),
      category: value("category"),
      parties: parties
    };
  }

  function ask() {
    var data = body();
    if (!data.trend || !data.category || !(data.scale >= 1)) {
      out.hidden = true;
      return;
    }
    if (pending) {
      pending.abort();
    }
    var xhr = new XMLHttpRequest();
    pending = xhr;
    xhr.open("POST", out.getAttribute("data-proposal-url"));
    xhr.setRequestHeader("Content-Type", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", token ? token.value : "");
    xhr.onload = function () {
      pending = null;
      if (xhr.status !== 200) {
        out.hidden = true;
        return;
      }
      var answer = JSON.parse(xhr.responseText);
      level.textContent = answer.risk_label;
      level.className = "badge risk-" + answer.risk_level;
      reasons.textContent = answer.reasons.map(function (r) { return r.label; }).join("；");
      out.setAttribute("data-proposal", answer.risk_level);
      out.hidden = false;
    };
    xhr.send(JSON.stringify(data));
  }

  form.addEventListener("change", function (event) {
    var name = event.target && event.target.name ? event.target.name : "";
    if (name === "initial_risk" || name === "csrf_token") {
      return;
    }
    ask();
  });
  ask();
})();
