"""factory_boy factories, one module per app: `tests.factories.accounts` (users, with billing's
plan and credits), `tests.factories.studio` (thumbnails, projects), `tests.factories.generation`
(jobs with their units, events, ledger lines and thumbnails, as a worker run leaves them). Rows
go through the same code paths the product uses where that matters (users through `create_user`,
so the sign-up signal opens their credit account; plans through billing.services)."""
