/* socialcrm: progressive enhancement. Every form works without this file; with it, queue actions
   run in place and the reply queue gets keyboard shortcuts (j/k move, a approve, e edit, r reject);
   the reply composer counts down the platform's limit, inserts saved replies in place (the picker's
   Insert button, or /key then Tab in the text) and sends with Ctrl+Enter. */
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

  /* Reply composer */
  function codePoints(text) {
    return Array.from(text.replace(/\r\n/g, "\n").trim()).length;
  }

  function updateCount(form) {
    var limit = parseInt(form.getAttribute("data-limit"), 10);
    var shown = form.querySelector("[data-remaining]");
    var text = form.querySelector("[data-reply-text]");
    if (!shown || !text || isNaN(limit)) { return; }
    var overhead = parseInt(form.getAttribute("data-overhead"), 10) || 0;
    var remaining = limit - overhead - codePoints(text.value);
    shown.textContent = String(remaining);
    var count = form.querySelector("[data-count]");
    if (count) { count.classList.toggle("over", remaining < 0); }
  }

  function showPreview(form, text, missing) {
    var box = form.querySelector("[data-preview]");
    if (!box) { return; }
    box.hidden = false;
    box.querySelector("[data-preview-text]").textContent = text;
    var warning = box.querySelector("[data-missing]");
    if (warning && missing) {
      warning.hidden = missing.length === 0;
      warning.querySelector("[data-missing-list]").textContent = missing.join(", ");
    }
  }

  function fetchSaved(form, fields) {
    var body = new URLSearchParams();
    body.set("do", "insert");
    Object.keys(fields).forEach(function (name) { body.set(name, fields[name]); });
    var action = form.action.replace(/\/reply$/, "/compose");
    return fetch(action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrfToken() }
    }).then(function (response) {
      return response.json().then(function (data) { data.httpStatus = response.status; return data; });
    });
  }

  function insertAt(textarea, start, end, piece) {
    var before = textarea.value.slice(0, start);
    var after = textarea.value.slice(end);
    textarea.value = before + piece + after;
    var caret = before.length + piece.length;
    textarea.setSelectionRange(caret, caret);
    textarea.focus();
  }

  function insertSaved(form, fields, start, end) {
    var textarea = form.querySelector("[data-reply-text]");
    fetchSaved(form, fields).then(function (data) {
      if (data.httpStatus !== 200 || !data.inserted) {
        showNotice(data.error || "no such saved reply", "warn");
        return;
      }
      insertAt(textarea, start, end, data.inserted);
      updateCount(form);
      showPreview(form, textarea.value.trim(), data.missing || []);
    }).catch(function () { showNotice("network error", "warn"); });
  }

  function enhanceComposers() {
    document.querySelectorAll("form[data-composer]").forEach(function (form) {
      var textarea = form.querySelector("[data-reply-text]");
      if (!textarea) { return; }
      updateCount(form);
      textarea.addEventListener("input", function () {
        updateCount(form);
        var box = form.querySelector("[data-preview]");
        if (box && !box.hidden) { box.querySelector("[data-preview-text]").textContent = textarea.value.trim(); }
      });
      textarea.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
          event.preventDefault();
          form.requestSubmit(form.querySelector("[data-send]"));
          return;
        }
        if (event.key !== "Tab" || event.shiftKey) { return; }
        var caret = textarea.selectionStart;
        var match = /(^|\s)\/([a-z0-9_-]{1,32})$/.exec(textarea.value.slice(0, caret));
        if (!match) { return; }
        event.preventDefault();
        insertSaved(form, { key: match[2] }, caret - match[2].length - 1, caret);
      });
      var button = form.querySelector("[data-insert]");
      var picker = form.querySelector("[data-saved]");
      if (button && picker) {
        button.addEventListener("click", function (event) {
          event.preventDefault();
          if (!picker.value) { picker.focus(); return; }
          insertSaved(form, { saved: picker.value }, textarea.selectionStart, textarea.selectionEnd);
        });
      }
    });
  }

  function enhanceSelectAll() {
    document.querySelectorAll("[data-select-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        var form = box.form || box.closest("form");
        if (!form) { return; }
        form.querySelectorAll('input[type=checkbox][name="ticket"]').forEach(function (el) { el.checked = box.checked; });
      });
    });
  }

  // The browser's time zone, for the server to show times in while the user has chosen none (Your account).
  function rememberTimeZone() {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { return; }
    if (!/^[A-Za-z0-9_+\-\/]{1,64}$/.test(zone)) { return; }
    if (document.cookie.split("; ").indexOf("tz=" + zone) !== -1) { return; }
    document.cookie = "tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax" +
      (location.protocol === "https:" ? "; Secure" : "");
  }

  document.addEventListener("DOMContentLoaded", function () {
    rememberTimeZone();
    enhanceComposers();
    enhanceSelectAll();
    enhanceAsyncForms();
    enhanceQueue();
    enhanceCopyButtons();
    enhanceAutoSubmit();
  });
})();
