// Copy buttons. The buttons are hidden in the page and shown here, so without scripts the
// page simply shows the text to select. Each button copies the text of the element its
// data-copy attribute names and reports the outcome in the element "<id>-status".
(function () {
  "use strict";

  function copyWithSelection(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try {
      ok = document.execCommand("copy");
    } catch (e) {
      ok = false;
    }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return copyWithSelection(text);
      });
    }
    return copyWithSelection(text);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("button[data-copy]");
    Array.prototype.forEach.call(buttons, function (button) {
      var id = button.getAttribute("data-copy");
      var target = document.getElementById(id);
      if (!target) {
        return;
      }
      var status = document.getElementById(id + "-status");
      button.hidden = false;
      button.addEventListener("click", function () {
        copyText(target.textContent).then(
          function () {
            if (status) {
              status.textContent = "Copied";
            }
          },
          function () {
            if (status) {
              status.textContent = "Could not copy; select the text instead";
            }
          }
        );
      });
    });
  });
})();
