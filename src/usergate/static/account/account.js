// The pages of mailed links: read the token, post it to the API, say what happened.
// Same-origin, no inline script (the Content-Security-Policy forbids any), no
// third-party code. The token is read from the URL fragment (#token=...), which
// never reaches a server, or from the query (?token=...), which is then removed
// from the address bar and the history.
(function () {
  "use strict";

  function readToken() {
    var fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    var query = new URLSearchParams(window.location.search);
    var token = fragment.get("token") || query.get("token") || "";
    if (token && (window.location.hash || window.location.search)) {
      history.replaceState(null, "", window.location.pathname);
    }
    return token;
  }

  function say(text, kind) {
    var status = document.getElementById("status");
    status.textContent = text;
    status.className = kind || "";
  }

  function problemText(body) {
    if (body && body.errors) {
      return Object.keys(body.errors).map(function (name) {
        var label = name === "new_password" ? "password" : name === "token" ? "link" : name;
        return "The " + label + " " + body.errors[name].join("; ");
      }).join(". ");
    }
    return (body && body.detail) || "Something went wrong; try again.";
  }

  function post(url, payload) {
    return fetch(url, {
      method: "POST",
      credentials: "omit",
      referrerPolicy: "no-referrer",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(payload)
    }).then(function (response) {
      if (response.status === 204) { return { ok: true, body: null }; }
      return response.json().then(function (body) {
        return { ok: response.ok, body: body };
      }, function () { return { ok: response.ok, body: null }; });
    });
  }

  function setUp(form, token, buildPayload, doneText) {
    if (!token) {
      document.getElementById("no-token").hidden = false;
      document.getElementById("submit").disabled = true;
      return;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var payload = buildPayload();
      if (!payload) { return; }
      payload.token = token;
      var button = document.getElementById("submit");
      button.disabled = true;
      say("Sending…");
      post(form.getAttribute("data-action"), payload).then(function (result) {
        if (result.ok) {
          form.hidden = true;
          say(doneText, "done");
        } else {
          button.disabled = false;
          say(problemText(result.body), "error");
        }
      }, function () {
        button.disabled = false;
        say("The server could not be reached; try again.", "error");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var token = readToken();
    var reset = document.getElementById("reset-form");
    var verify = document.getElementById("verify-form");
    if (reset) {
      setUp(reset, token, function () {
        var first = document.getElementById("new_password").value;
        var second = document.getElementById("new_password_again").value;
        if (first !== second) {
          say("The two passwords differ.", "error");
          return null;
        }
        return { new_password: first };
      }, "Your password is set, and you are signed out everywhere. Sign in with the new password.");
    }
    if (verify) {
      setUp(verify, token, function () { return {}; }, "Your email address is confirmed.");
    }
  });
}());
