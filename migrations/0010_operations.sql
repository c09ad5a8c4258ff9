-- Operations (issue 16): the Zoom account's email, read from /users/me when a credential is
-- created, so the admin can search credentials by it. Older credentials keep NULL.
ALTER TABLE zoom_oauth_credentials ADD COLUMN email TEXT;
CREATE INDEX zoom_oauth_credentials_email ON zoom_oauth_credentials (email);
