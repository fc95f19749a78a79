/* 预警: keep the dashboard's red band of open risk alerts fresh without a reload.
 *
 * Polls the band's data-poll URL (GET /api/v1/alerts) every data-every ms and, when
 * the set of open alerts changed, redraws the list from <template id="risk-alert-item">
 * (rendered by the server in the reader's language, with the CSRF field of the 签收 form).
 * Labels come translated in the JSON; text is placed with textContent only.
 * ES5 and XMLHttpRequest on purpose: WeChat's in-app WebView can be old.
 */
(function () {
  "use strict";

  var band = document.getElementById("risk-alerts");
  var template = document.getElementById("risk-alert-item");
  if (!band || !template || !template.content) {
    return;
  }
  var list = band.querySelector("[data-alert-list]");
  var count = band.querySelector("[data-alert-count]");
  var every = parseInt(band.getAttribute("data-every"), 10) || 15000;

  function field(node, name) {
    return node.querySelector('[data-field="' + name + '"]');
  }

  function shownIds() {
    var ids = [];
    Array.prototype.forEach.call(list.querySelectorAll("[data-alert-id]"), function (li) {
      ids.push(li.getAttribute("data-alert-id"));
    });
    return ids.join(",");
  }

  function build(item) {
    var node = template.content.firstElementChild.cloneNode(true);
    node.setAttribute("data-alert-id", String(item.id));
    node.setAttribute("data-alert-dispute", String(item.dispute.id));
    var title = field(node, "title");
    title.textContent = item.dispute.title;
    title.setAttribute("href", item.url);
    field(node, "reference").textContent = item.dispute.reference;
    field(node, "route").textContent = item.route_label;
    field(node, "office").textContent = item.office_name;
    field(node, "raised_at").textContent = item.raised_at_local;
    field(node, "raised_at").setAttribute("datetime", item.raised_at);
    var reasons = field(node, "reasons");
    item.reasons.forEach(function (reason) {
      var li = document.createElement("li");
      li.textContent = reason.label;
      reasons.appendChild(li);
    });
    var form = field(node, "acknowledge");
    if (form) {
      if (item.can_acknowledge) {
        form.setAttribute("action", "/alerts/" + item.id + "/acknowledge");
      } else {
        form.parentNode.removeChild(form);
      }
    }
    return node;
  }

  function draw(items) {
    var ids = items.map(function (item) { return String(item.id); }).join(",");
    if (ids === shownIds()) {
      return;
    }
    while (list.firstChild) {
      list.removeChild(list.firstChild);
    }
    items.forEach(function (item) { list.appendChild(build(item)); });
    count.textContent = String(items.length);
    band.hidden = items.length === 0;
    band.setAttribute("data-refreshed", String(Date.now()));
  }

  function poll() {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", band.getAttribute("data-poll"));
    xhr.setRequestHeader("Accept", "application/json");
    xhr.onload = function () {
      if (xhr.status !== 200) {
        return; /* signed out or refused: keep what is shown, the next page load says why */
      }
      try {
        draw(JSON.parse(xhr.responseText).items || []);
      } catch (e) {
        /* a half-read answer: try again at the next tick */
      }
    };
    xhr.send();
  }

  window.setInterval(poll, every);
})();
