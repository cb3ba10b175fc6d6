"""Domain errors raised by the voiceprint store; the router maps each to one HTTP status."""


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class UserNotFound(StoreError, KeyError):
    """No user with this id (maps to 404)."""

    def __init__(self, user_id: str):
        super().__init__(user_id)
        self.user_id = user_id

    def __str__(self) -> str:  # KeyError would repr() the argument
        return f"user not found: {self.user_id}"


class UserExists(StoreError):
    """create_user was given a user_id that is already taken (maps to 409)."""

    def __init__(self, user_id: str):
        super().__init__(f"user already exists: {user_id}")
        self.user_id = user_id


class ModelMismatch(StoreError):
    """Embeddings of another model than the user's voiceprint (maps to 409): scores across models mean nothing."""

    def __init__(self, user_id: str, stored: str, offered: str):
        super().__init__(f"user {user_id} was enrolled with model {stored}; the served model is {offered}: "
                         "re-enroll the user (python -m store reenroll-needed lists who must)")
        self.user_id, self.stored, self.offered = user_id, stored, offered


class StorageUnavailable(StoreError):
    """The durable copy (Redis, disk) cannot be reached right now (maps to 503)."""


class InvalidEmbedding(StoreError, ValueError):
    """Wrong dimension, non-finite values or a zero vector (maps to 400)."""


class EnrollmentLimit(InvalidEmbedding):
    """The user already holds `storage.max_enrollments` enrollments (maps to 409: the user's state, not the input)."""


class InvalidRequest(StoreError, ValueError):
    """Bad user id, metadata that is not JSON, bad paging arguments (maps to 400)."""


class StoreConfigError(StoreError):
    """Bad settings or a wrong/missing encryption key; the message names the setting."""


class CorruptData(StoreError):
    """Stored bytes fail their integrity check (not a torn tail, which is recovered silently)."""


class RotationIncomplete(StoreError):
    """Key rotation passed its commit point (the new key is now required) but a later step failed."""
