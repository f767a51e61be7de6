// Small enhancements; every page works without them.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // htmx requests carry the session's CSRF token in a header.
  document.body.addEventListener("htmx:configRequest", function (event) {
    var field = document.querySelector("input[name='csrf_token']");
    if (field) { event.detail.headers["X-CSRF-Token"] = field.value; }
  });
  // "Confirm send" works once the number typed matches the recipients.
  document.querySelectorAll("[data-confirm-count]").forEach(function (input) {
    var button = document.getElementById(input.getAttribute("data-confirm-button"));
    var expected = input.getAttribute("data-confirm-count");
    var update = function () { if (button) { button.disabled = input.value.trim() !== expected; } };
    input.addEventListener("input", update);
    update();
  });
  // The browser's time zone, so a schedule is read in the user's own time.
  document.querySelectorAll("input[name='time_zone']").forEach(function (input) {
    try { input.value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { input.value = "UTC"; }
  });
});
