// Live progress for the sync panel (templates/sync/_panel.html). Without this file the panel
// still works: the form posts normally and the page refreshes itself while a sync runs.
(function () {
  "use strict";

  var panel = document.querySelector("[data-sync-panel]");
  if (!panel || !window.fetch || !window.FormData) {
    return;
  }
  var statusUrl = panel.getAttribute("data-status-url");
  var form = panel.querySelector("form[data-sync-form]");
  var button = form ? form.querySelector("button[type=submit]") : null;
  var live = panel.querySelector("[data-sync-live]");
  var polling = false;
  var POLL_MS = 1000;

  function setText(element, text) {
    element.textContent = text;
  }

  function showMessage(text) {
    live.replaceChildren();
    var p = document.createElement("p");
    setText(p, text);
    live.appendChild(p);
  }

  function showProgress(done, total) {
    var bar = live.querySelector("progress");
    var count = live.querySelector("[data-sync-count]");
    if (!bar || !count) {
      live.replaceChildren();
      var p = document.createElement("p");
      var label = document.createElement("label");
      label.htmlFor = "sync-progress-bar";
      label.appendChild(document.createTextNode("Syncing classes from Clever: "));
      count = document.createElement("span");
      count.setAttribute("data-sync-count", "");
      label.appendChild(count);
      label.appendChild(document.createTextNode(" done"));
      p.appendChild(label);
      bar = document.createElement("progress");
      bar.id = "sync-progress-bar";
      bar.className = "progress";
      live.appendChild(p);
      live.appendChild(bar);
    }
    bar.max = total > 0 ? total : 1;
    bar.value = Math.min(done, bar.max);
    setText(bar, done + " of " + total);
    setText(count, done + " of " + total);
  }

  function finished(state) {
    polling = false;
    if (button) {
      button.disabled = false;
    }
    if (state.status === "ok") {
      showMessage("Sync finished. Refreshing your classes…");
    } else if (state.status === "held") {
      showMessage("Sync is waiting for you: review the changes before they are applied.");
    } else {
      showMessage("We couldn't refresh your classes from Clever. Try again in a minute.");
    }
    // The class lists around the panel come from the server: show the fresh ones.
    window.setTimeout(function () {
      window.location.reload();
    }, 1200);
  }

  function poll() {
    fetch(statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (state) {
        if (state.status === "running") {
          showProgress(state.done, state.total);
          window.setTimeout(poll, POLL_MS);
        } else {
          finished(state);
        }
      })
      .catch(function () {
        // Session over or network trouble: a full reload shows the right page.
        window.location.reload();
      });
  }

  function startPolling() {
    if (polling) {
      return;
    }
    polling = true;
    if (button) {
      button.disabled = true;
    }
    poll();
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (button) {
        button.disabled = true;
      }
      showMessage("Starting a sync with Clever…");
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      })
        .then(function (response) {
          return response.json().then(function (body) {
            return { status: response.status, body: body };
          });
        })
        .then(function (result) {
          if (result.status === 202 || result.body.error === "sync_running") {
            if (result.body.message) {
              showMessage(result.body.message);
            }
            startPolling();
          } else {
            showMessage(result.body.message || "The sync could not start.");
            if (button) {
              button.disabled = false;
            }
          }
        })
        .catch(function () {
          // Fall back to the plain form post, which always works.
          form.submit();
        });
    });
  }

  if (panel.getAttribute("data-sync-status") === "running") {
    startPolling();
  }
})();
