"""The bottom layer every app may use and that imports none of them: the JSON API error shape
(`core.api`), the shared cache (`core.shared_cache`), rate limits (`core.ratelimits`) and typed
requests (`core.http`)."""
