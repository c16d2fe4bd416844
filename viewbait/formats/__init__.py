"""Date formats of ViewBait's pages (Django's FORMAT_MODULE_PATH): one short form everywhere."""
