// Suggestions under the label search box, from /search's JSON. Without this script the box is a
// plain form that opens the results page; with it, typing lists matches (arrow keys, Enter, Escape).
(function () {
  "use strict";

  var DELAY_MS = 120;
  var LIMIT = 8;

  function enhance(form) {
    var input = form.querySelector("input[name=q]");
    var list = form.querySelector(".suggestions");
    if (!input || !list) return;
    var endpoint = form.getAttribute("data-suggest") || form.action;
    var timer = null;
    var controller = null;
    var active = -1;
    var shown = [];

    function close() {
      list.hidden = true;
      list.textContent = "";
      shown = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(index) {
      var options = list.querySelectorAll("[role=option]");
      active = index;
      for (var i = 0; i < options.length; i++) {
        options[i].setAttribute("aria-selected", i === index ? "true" : "false");
      }
      if (index >= 0 && options[index]) {
        input.setAttribute("aria-activedescendant", options[index].id);
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function render(results) {
      list.textContent = "";
      shown = results;
      active = -1;
      if (!results.length) {
        close();
        return;
      }
      results.forEach(function (result, i) {
        var item = document.createElement("li");
        item.setAttribute("role", "option");
        item.id = list.id + "-" + i;
        var link = document.createElement("a");
        link.href = result.path;
        link.textContent = result.label;
        item.appendChild(link);
        if (result.matched !== result.label) {
          var also = document.createElement("span");
          also.className = "matched";
          also.textContent = " (" + result.matched + ")";
          item.appendChild(also);
        }
        if (result.types.length) {
          var types = document.createElement("span");
          types.className = "count";
          types.textContent = " · " + result.types.join(", ");
          item.appendChild(types);
        }
        item.addEventListener("mousedown", function (event) {
          event.preventDefault(); // keep the focus until the link is followed
          window.location.href = result.path;
        });
        list.appendChild(item);
      });
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
    }

    function lookup() {
      var text = input.value.trim();
      if (text.length < 2) {
        close();
        return;
      }
      if (controller) controller.abort();
      controller = typeof AbortController === "function" ? new AbortController() : null;
      var url = endpoint + "?q=" + encodeURIComponent(text) + "&limit=" + LIMIT;
      fetch(url, {
        headers: { Accept: "application/json" },
        signal: controller ? controller.signal : undefined,
      })
        .then(function (response) {
          return response.ok ? response.json() : { query: text, results: [] };
        })
        .then(function (answer) {
          if (answer.query === input.value.trim()) render(answer.results);
        })
        .catch(function () {
          /* aborted or offline: the form still works */
        });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(lookup, DELAY_MS);
    });
    input.addEventListener("keydown", function (event) {
      if (list.hidden) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        // -1 is the text box itself; the options are 0 .. n-1, round and round
        var next = active + (event.key === "ArrowDown" ? 1 : -1);
        if (next < -1) next = shown.length - 1;
        if (next >= shown.length) next = -1;
        highlight(next);
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        window.location.href = shown[active].path;
      } else if (event.key === "Escape") {
        close();
      }
    });
    input.addEventListener("blur", function () {
      setTimeout(close, 150);
    });
  }

  function start() {
    var forms = document.querySelectorAll("form[data-suggest]");
    for (var i = 0; i < forms.length; i++) enhance(forms[i]);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
