-- +goose Up
-- Sign-in failure counters are expired by their window's start (the
-- periodic sweep), so that names a guesser tried do not stay for ever.
CREATE INDEX auth_failures_window ON auth_failures (window_start);

-- +goose Down
DROP INDEX auth_failures_window;
