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

    // What the typed tags will become, said while typing: renamed synonyms, new tags (with
    // what they may be a typo of) and tags also marked wrong above (a contradiction).
    var described = 0;
    function describe() {
      var names = input.value.split(/[\s,]+/).filter(Boolean).slice(0, 10);
      var asked = ++described;
      Promise.all(names.map(function (name) {
        return fetch(input.dataset.tagInfo + encodeURIComponent(name))
          .then(function (response) { return response.ok ? response.json() : null; })
          .catch(function () { return null; });
      })).then(function (infos) {
        if (asked !== described) return;  // a later call answers for newer text
        var wrong = Array.prototype.map.call(
          document.querySelectorAll('.verdict-row input[value="reject"]:checked'),
          function (box) { return box.name.slice("verdict:".length); }
        );
        var notes = [];
        infos.forEach(function (info, i) {
          if (!info) return;
          if (info.tag !== names[i].toLowerCase()) notes.push(names[i] + " will be saved as " + info.tag);
          if (!info.known) {
            var meant = info.did_you_mean || [];
            notes.push(info.tag + " is new: not in the catalogue" + (meant.length ? ". Did you mean " + meant.join(", ") + "?" : ""));
          }
          if (wrong.indexOf(info.tag) >= 0) notes.push(info.tag + " is marked wrong above: choose one");
        });
        preview.textContent = notes.join("; ");
      });
    }

    var describeTimer = null;
    function describeSoon() {
      clearTimeout(describeTimer);
      describeTimer = setTimeout(describe, 350);
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(search, 150);
      describeSoon();
    });
    document.querySelectorAll('.verdict-row input[type="radio"]').forEach(function (box) {
      box.addEventListener("change", function () { if (input.value.trim()) describeSoon(); });
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

// Suggestions while typing: a moment after the title or body changes, the question as it
// stands goes to the preview endpoint, which stores nothing; the tags and their scores show
// under the form. Example questions fill the form. Without JavaScript the section stays
// hidden, the examples are plain links, and the form works as before.
(function () {
  "use strict";
  var DELAY_MS = 250;

  function setUp(form) {
    var title = form.querySelector("#title");
    var body = form.querySelector("#body");
    var list = document.getElementById("live-tags");
    var status = document.getElementById("live-status");
    var modelName = document.getElementById("live-model");
    var timer = null;
    var controller = null;
    var sent = 0;

    function settings() {
      var model = form.querySelector('input[name="model"]:checked');
      var topK = parseInt(form.querySelector("#top_k").value, 10);
      var cut = form.querySelector("#threshold").value.trim();
      var threshold = cut === "" ? null : Number(cut);
      return {
        model: model ? model.value : null,
        top_k: topK >= 1 && topK <= 20 ? topK : 5,
        threshold: threshold !== null && threshold >= 0 && threshold <= 1 ? threshold : null,
      };
    }

    function render(data) {
      list.innerHTML = "";
      data.tags.forEach(function (item) {
        var row = document.createElement("li");
        row.className = "live-tag" + (item.confident ? "" : " is-guess");
        var name = document.createElement("span");
        name.className = "tag";
        name.textContent = item.tag;
        var bar = document.createElement("span");
        bar.className = "bar";
        bar.setAttribute("aria-hidden", "true");
        var fill = document.createElement("span");
        fill.className = "bar-fill";
        fill.style.width = (item.score * 100).toFixed(1) + "%";
        bar.appendChild(fill);
        var score = document.createElement("span");
        score.className = "score-value";
        score.textContent = item.score.toFixed(2) + (item.confident ? "" : " (guess)");
        row.append(name, bar, score);
        list.appendChild(row);
      });
      modelName.textContent = data.model ? "(" + data.model + ")" : "";
      status.textContent = data.tags.length
        ? data.tags.map(function (item) { return item.tag; }).join(", ")
        : "No tag yet.";
    }

    function preview() {
      if (!title.value.trim() && !body.value.trim()) {
        list.innerHTML = "";
        status.textContent = "Start typing a title: tags appear here as you type.";
        return;
      }
      if (controller) controller.abort();  // only the latest text matters
      controller = new AbortController();
      var number = ++sent;
      var question = Object.assign({ title: title.value, body: body.value }, settings());
      fetch(form.dataset.preview, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(question),
        signal: controller.signal,
      })
        .then(function (response) {
          return response.json().then(function (data) { return { ok: response.ok, data: data }; });
        })
        .then(function (result) {
          if (number !== sent) return;
          if (result.ok) return render(result.data);
          var fields = result.data.fields || {};
          var first = Object.keys(fields)[0];
          status.textContent = first ? fields[first] : result.data.error;
        })
        .catch(function (error) {
          if (error.name !== "AbortError") status.textContent = "Suggestions paused: the site did not answer.";
        });
    }

    function soon() {
      clearTimeout(timer);
      timer = setTimeout(preview, DELAY_MS);
    }

    title.addEventListener("input", soon);
    body.addEventListener("input", soon);
    form.addEventListener("change", function (event) {
      if (event.target !== title && event.target !== body) soon();
    });
    document.querySelectorAll("a.example").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        title.value = link.dataset.title;
        body.value = link.dataset.body || "";
        title.focus();
        preview();
      });
    });
    if (title.value || body.value) preview();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-preview]");
    if (form) setUp(form);
  });
})();

// The review form: "Accept all", keys (a: right, r: wrong on the focused row, Alt+A: accept
// all), undecided rows marked by the server lose their mark once decided, and the page
// moves the focus to what the reviewer must read: the first undecided row, or "Review saved".
(function () {
  "use strict";

  function decide(row, verdict) {
    var input = row.querySelector('input[value="' + verdict + '"]');
    if (!input) return;
    input.checked = true;
    row.classList.remove("is-undecided");
    row.removeAttribute("aria-invalid");
  }

  function setUp(form) {
    var rows = Array.prototype.slice.call(form.querySelectorAll(".verdict-row"));
    var acceptAll = document.getElementById("accept-all");
    function acceptEvery() {
      rows.forEach(function (row) { decide(row, "accept"); });
    }
    if (acceptAll) acceptAll.addEventListener("click", acceptEvery);
    form.addEventListener("change", function (event) {
      var row = event.target.closest(".verdict-row");
      if (row) decide(row, event.target.value);
    });
    form.addEventListener("keydown", function (event) {
      if (event.altKey && !event.ctrlKey && !event.metaKey && (event.key === "a" || event.key === "A" || event.code === "KeyA")) {
        event.preventDefault();
        return acceptEvery();
      }
      var row = event.target.closest(".verdict-row");
      if (!row || event.altKey || event.ctrlKey || event.metaKey) return;
      var verdict = { a: "accept", r: "reject" }[event.key.toLowerCase()];
      if (!verdict) return;
      event.preventDefault();
      decide(row, verdict);
      var next = rows[rows.indexOf(row) + 1];
      (next ? next.querySelector("input") : form.querySelector("#added")).focus();
    });
    var target = form.querySelector(".verdict-row.is-undecided input") || document.getElementById("review-saved");
    // After the load: Chrome's scroll to #review blurs whatever had the focus before it.
    if (target) window.addEventListener("load", function () { setTimeout(function () { target.focus(); }, 0); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector(".review-form");
    if (form) setUp(form);
  });
})();
