/* The phone's menu (issue 20): following a link of the folded navigation closes the menu, since
   the shell stays on screen while Dash swaps the page under it. */
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest(".nav-menu a");
  var menu = link && link.closest("details");
  if (menu && menu.open) {
    menu.open = false;
  }
});
