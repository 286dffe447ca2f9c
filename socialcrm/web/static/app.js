/* socialcrm: progressive enhancement. Every form works without this file; with it, queue actions
   run in place and the reply queue gets keyboard shortcuts (j/k move, a approve, e edit, r reject). */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function showNotice(text, kind) {
    var box = document.getElementById("notice");
    if (!box) { return; }
    box.textContent = text;
    box.className = "notice notice-" + (kind || "ok");
    box.hidden = false;
  }

  function sendForm(form, submitter) {
    var body = new URLSearchParams(new FormData(form));
    var action = submitter && submitter.hasAttribute("formaction") ? submitter.formAction : form.action;
    return fetch(action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrfToken() }
    }).then(function (response) {
      return response.json().catch(function () {
        return { ok: false, notice: "HTTP " + response.status };
      }).then(function (data) { data.httpStatus = response.status; return data; });
    });
  }

  function enhanceAsyncForms() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-async")) { return; }
      event.preventDefault();
      var item = form.closest("[data-item]");
      sendForm(form, event.submitter).then(function (data) {
        showNotice(data.notice || "", data.ok ? "ok" : "warn");
        if (item && data.version) {
          item.querySelectorAll("input[name=version]").forEach(function (input) { input.value = data.version; });
          var shown = item.querySelector(".reply-text");
          var edited = form.querySelector("textarea[name=text]");
          if (shown && edited) { shown.textContent = edited.value; }
        }
        if (item && data.state) {
          item.setAttribute("data-state", data.state);
          var state = item.querySelector("[data-state-label]");
          if (state && data.state_label) { state.textContent = data.state_label; }
          if (data.done) { selectNext(item); }
        }
        if (data.reload) { window.location.reload(); }
      }).catch(function () { showNotice("network error", "warn"); });
    });
  }

  /* Reply queue keyboard shortcuts */
  function queueItems() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-item]"));
  }

  function select(item) {
    queueItems().forEach(function (el) { el.classList.remove("selected"); el.removeAttribute("aria-current"); });
    if (!item) { return; }
    item.classList.add("selected");
    item.setAttribute("aria-current", "true");
    item.scrollIntoView({ block: "nearest" });
  }

  function selected() {
    return document.querySelector("[data-item].selected");
  }

  function move(step) {
    var items = queueItems();
    if (!items.length) { return; }
    var index = items.indexOf(selected());
    var next = index < 0 ? 0 : Math.min(items.length - 1, Math.max(0, index + step));
    select(items[next]);
  }

  function selectNext(item) {
    var items = queueItems().filter(function (el) {
      return el === item || el.getAttribute("data-state") === "pending";
    });
    var index = items.indexOf(item);
    var next = items[index + 1] || items[index - 1];
    if (next && next !== item) { select(next); }
  }

  function openPanel(item, name) {
    var panel = item.querySelector('[data-panel="' + name + '"]');
    if (!panel) { return; }
    panel.open = true;
    var field = panel.querySelector("textarea, input[type=text]");
    if (field) { field.focus(); }
  }

  function enhanceQueue() {
    if (document.body.getAttribute("data-page") !== "queue") { return; }
    if (queueItems().length) { select(queueItems()[0]); }
    queueItems().forEach(function (item) {
      item.addEventListener("click", function () { select(item); });
    });
    document.addEventListener("keydown", function (event) {
      var target = event.target;
      if (event.ctrlKey || event.metaKey || event.altKey) { return; }
      if (target && /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName)) {
        if (event.key === "Escape") { target.blur(); }
        return;
      }
      var item = selected();
      if (event.key === "j") { move(1); }
      else if (event.key === "k") { move(-1); }
      else if (event.key === "a" && item) {
        var approve = item.querySelector("form[data-action=approve]");
        if (approve) { approve.requestSubmit(); }
      }
      else if (event.key === "e" && item) { openPanel(item, "edit"); }
      else if (event.key === "r" && item) { openPanel(item, "reject"); }
      else { return; }
      event.preventDefault();
    });
  }

  function enhanceCopyButtons() {
    document.addEventListener("click", function (event) {
      var button = event.target.closest ? event.target.closest("[data-copy]") : null;
      if (!button) { return; }
      var source = document.getElementById(button.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.value || source.textContent || "");
        button.setAttribute("data-copied", "true");
      }
    });
  }

  function enhanceAutoSubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { el.form.requestSubmit(); });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhanceAsyncForms();
    enhanceQueue();
    enhanceCopyButtons();
    enhanceAutoSubmit();
  });
})();
