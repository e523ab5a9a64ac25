// The result toggle: show one model's tags, or every model's side by side, without
// sending the question again. Without JavaScript every panel simply shows.
(function () {
  "use strict";
  document.documentElement.classList.replace("no-js", "js");

  function show(results, view) {
    results.setAttribute("data-view", view);
    results.querySelectorAll(".toggle-button").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-view") === view));
    });
    results.querySelectorAll(".panel").forEach(function (panel) {
      panel.classList.toggle("is-hidden", view !== "both" && panel.getAttribute("data-model") !== view);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".results").forEach(function (results) {
      results.querySelectorAll(".toggle-button").forEach(function (button) {
        button.addEventListener("click", function () {
          var view = button.getAttribute("data-view");
          show(results, view);
          // Keep the choice in the address, so reload and back show the same view.
          var url = new URL(window.location.href);
          url.searchParams.set("view", view);
          url.searchParams.delete("asked");
          url.searchParams.delete("reviewed");
          window.history.replaceState(null, "", url);
        });
      });
    });
  });
})();

// Missing tags: suggestions from the Stack Overflow catalogue for the word being typed
// (name, how often it is used, what it is), and a line that says how each typed tag will be
// stored: renamed when it is a synonym, marked new when the catalogue lacks it.
(function () {
  "use strict";

  function currentWord(input) {
    var before = input.value.slice(0, input.selectionStart);
    var match = /[^\s,]*$/.exec(before);
    return { text: match[0], start: before.length - match[0].length, end: input.selectionStart };
  }

  function setUp(input) {
    var list = document.getElementById("added-suggestions");
    var preview = document.getElementById("added-preview");
    var timer = null;
    var active = -1;
    var options = [];
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "false");

    function close() {
      list.classList.add("is-hidden");
      list.innerHTML = "";
      options = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(index) {
      active = index;
      options.forEach(function (option, i) {
        option.setAttribute("aria-selected", String(i === index));
      });
      if (index >= 0) input.setAttribute("aria-activedescendant", options[index].id);
    }

    function choose(tag) {
      var word = currentWord(input);
      var value = input.value;
      input.value = value.slice(0, word.start) + tag + " " + value.slice(word.end).replace(/^\s+/, "");
      var caret = word.start + tag.length + 1;
      input.setSelectionRange(caret, caret);
      close();
      describe();
    }

    function show(tags) {
      close();
      tags.forEach(function (info, i) {
        var option = document.createElement("li");
        option.id = "added-option-" + i;
        option.setAttribute("role", "option");
        option.className = "suggestion";
        var name = document.createElement("span");
        name.className = "tag";
        name.textContent = info.tag;
        var about = document.createElement("span");
        about.className = "muted";
        about.textContent = (info.synonym ? "for " + info.synonym + " · " : "") + info.count.toLocaleString() +
          " questions" + (info.description ? " · " + info.description : "");
        option.append(name, " ", about);
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
          choose(info.tag);
        });
        list.appendChild(option);
        options.push(option);
      });
      if (options.length) {
        list.classList.remove("is-hidden");
        input.setAttribute("aria-expanded", "true");
      }
    }

    function search() {
      var word = currentWord(input).text;
      if (!word) return close();
      fetch(input.dataset.tagSearch + "?limit=8&prefix=" + encodeURIComponent(word))
        .then(function (response) { return response.ok ? response.json() : { tags: [] }; })
        .then(function (data) { if (currentWord(input).text === word) show(data.tags); })
        .catch(close);
    }

    function describe() {
      var names = input.value.split(/[\s,]+/).filter(Boolean).slice(0, 10);
      Promise.all(names.map(function (name) {
        return fetch(input.dataset.tagInfo + encodeURIComponent(name))
          .then(function (response) { return response.ok ? response.json() : null; })
          .catch(function () { return null; });
      })).then(function (infos) {
        var notes = [];
        infos.forEach(function (info, i) {
          if (!info) return;
          if (info.tag !== names[i].toLowerCase()) notes.push(names[i] + " will be saved as " + info.tag);
          if (!info.known) notes.push(info.tag + " is new: not in the 2021 catalogue");
        });
        preview.textContent = notes.join("; ");
      });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 150);
    });
    input.addEventListener("blur", function () { close(); describe(); });
    input.addEventListener("keydown", function (event) {
      if (!options.length) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        highlight((active + step + options.length) % options.length);
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        choose(options[active].querySelector(".tag").textContent);
      } else if (event.key === "Escape") {
        close();
      }
    });
    if (input.value) describe();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var input = document.querySelector("input[data-tag-search]");
    if (input) setUp(input);
  });
})();

// After a failed submit the server marks the first invalid field autofocus; browsers skip
// autofocus in some cases (a restored scroll position, a field in closed <details>), so
// focus it here too: the screen reader then reads the field with its error.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var summary = document.getElementById("error-summary") || document.getElementById("review-errors");
    if (!summary) return;
    var field = summary.parentElement.querySelector('[aria-invalid="true"]');
    (field || summary).focus();
  });
})();
