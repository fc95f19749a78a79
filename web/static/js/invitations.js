/* Copy and print buttons for invitation links and texts.
 *
 * Loaded with `defer` (the CSP allows no inline script). Written in ES5 on
 * purpose: staff often use WeChat's in-app browser, whose WebView can be old.
 * Buttons carry `hidden` in the HTML and are shown only here, so a page
 * without JavaScript offers no button that does nothing.
 *
 *   <button data-copy="ID" data-done="Copied" data-fail="...">  copies #ID's value
 *   <button data-print>                                          prints the page
 */
(function () {
  "use strict";

  function each(selector, fn) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
  }

  function selectAll(field) {
    field.focus();
    field.select();
    try {
      field.setSelectionRange(0, field.value.length); // iOS ignores select()
    } catch (e) {
      /* some input types have no selection range */
    }
  }

  /* The fallback for browsers without the async clipboard (WeChat's, plain http). */
  function legacyCopy(field) {
    selectAll(field);
    try {
      return document.execCommand("copy");
    } catch (e) {
      return false;
    }
  }

  function flash(button, ok) {
    if (!button.getAttribute("data-label")) {
      button.setAttribute("data-label", button.textContent);
    }
    button.textContent = button.getAttribute(ok ? "data-done" : "data-fail") || button.textContent;
    window.setTimeout(function () {
      button.textContent = button.getAttribute("data-label");
    }, 2500);
  }

  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) {
      return;
    }
    var text = field.value;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(
        function () {
          flash(button, true);
        },
        function () {
          flash(button, legacyCopy(field));
        }
      );
    } else {
      var ok = legacyCopy(field);
      if (!ok) {
        selectAll(field); // leave it selected so a long press copies it
      }
      flash(button, ok);
    }
  }

  each("[data-copy]", function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      copy(button);
    });
  });

  each("[data-print]", function (button) {
    if (typeof window.print !== "function") {
      return; // some in-app browsers cannot print; the button stays hidden
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });

  /* A tap on a read-only link or text selects all of it, ready to copy by hand. */
  each("textarea[readonly], input.link-field", function (field) {
    field.addEventListener("focus", function () {
      selectAll(field);
    });
  });
})();
