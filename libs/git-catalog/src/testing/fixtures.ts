export const GET_USER = `-- @description Look up a user by id
-- @readonly
SELECT user_id, email FROM users WHERE user_id = {{ .user_id | type "number" | required "User ID is required" }};
`;

export const UPDATE_EMAIL = `-- @description Re-point a user's e-mail address
UPDATE users
SET email = '{{ .email | required "New email is required" | type "email" }}'
WHERE user_id = {{ .user_id | type "number" | required "User ID is required" }};
`;

/** A text parameter standing bare in SQL: the linter (and git-sync) refuse it. */
export const BROKEN = `-- @description Finds users by e-mail, unsafely
SELECT * FROM users WHERE email = {{ .email }};
`;
