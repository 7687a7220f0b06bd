"""aiogram routers only: taxpayer chat, uploads, staff topics, admin, errors."""
