// Upvote buttons without a page reload. Without this script the same forms work as plain POSTs.
document.addEventListener("submit", async (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-upvote")) return;
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const state = await response.json();
    form.classList.toggle("on", state.upvoted);
    button.setAttribute("aria-pressed", String(state.upvoted));
    form.querySelector(".count").textContent = String(state.upvotes);
  } catch (error) {
    form.submit(); // let the server answer the plain way (log-in page, error page...)
  } finally {
    button.disabled = false;
  }
});
