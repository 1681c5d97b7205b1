"""VODs: recorded live sessions on disk and their catalogue in the database."""
