// Filter-as-you-type for a class roster (templates/dashboard/class.html). Without this file the
// roster is a plain sorted list and the filter box stays hidden.
(function () {
  "use strict";

  var box = document.querySelector("[data-roster-filter]");
  var table = document.querySelector("table.roster");
  if (!box || !table) {
    return;
  }
  var input = box.querySelector("input");
  var count = box.querySelector("[data-roster-count]");
  var rows = Array.prototype.slice.call(table.tBodies[0].rows);

  // "Nunez" finds "Núñez": compare without accents or case, like the roster's own order.
  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().trim();
  }

  var names = rows.map(function (row) {
    return fold(row.querySelector(".person-name").textContent);
  });

  function apply() {
    var query = fold(input.value);
    var shown = 0;
    rows.forEach(function (row, i) {
      var match = names[i].indexOf(query) !== -1;
      row.hidden = !match;
      shown += match ? 1 : 0;
    });
    if (!query) {
      count.textContent = "";
    } else if (shown === 0) {
      count.textContent = "No student matches “" + input.value.trim() + "”.";
    } else {
      count.textContent = shown + " of " + rows.length + " shown";
    }
  }

  box.hidden = false;
  input.addEventListener("input", apply);
})();
