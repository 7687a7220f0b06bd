"""The web surfaces: the staff console and the taxpayers' web chat (aiohttp + Jinja2).

`console.app.build_app(deps)` makes the one aiohttp application: sessions (an encrypted
cookie, or Redis), CSRF tokens on every unsafe request, security headers, the staff login
(`console.auth`, argon2 hashes in the desk) and the role rule on every route, the live change
feed (`console.live`) behind the server-sent events. The pages call `desk.services` for all
case and conversation work, so the console obeys the same permission rules as the CLI and the
staff topics. `app` builds `ConsoleDeps` from its container and serves the application
(`main.py console`, and inside `main.py run`).
"""
