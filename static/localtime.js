// Times in the reader's time zone. The server writes <time datetime="…Z">3 Dec 2026, 14:05 UTC
// </time> (it cannot know the zone); without JavaScript that UTC text stays.
(function () {
  "use strict";
  if (!window.Intl || !Intl.DateTimeFormat) {
    return;
  }
  var format = new Intl.DateTimeFormat(undefined, {
    day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short"
  });
  document.querySelectorAll("time[datetime$='Z']").forEach(function (element) {
    var moment = new Date(element.getAttribute("datetime"));
    if (!isNaN(moment.getTime())) {
      element.title = element.textContent.trim();  // the UTC text, on hover
      element.textContent = format.format(moment);
      element.setAttribute("data-local", "");
    }
  });
})();
