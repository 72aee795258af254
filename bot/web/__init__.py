"""The member's card (a Telegram Mini App, /app/) and the owner's console (/console/)."""
