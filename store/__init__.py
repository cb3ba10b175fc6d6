"""Voiceprint store: users, their enrollment embeddings, 1:1 scoring and 1:N search."""
from .base import VoiceprintStore
from .config import StorageConfig
from .errors import (CorruptData, InvalidEmbedding, InvalidRequest, ModelMismatch, RotationIncomplete,
                     StorageUnavailable, StoreConfigError, StoreError, UserExists, UserNotFound)
from .factory import create_store
from .models import Match, Page, User

__all__ = ["VoiceprintStore", "StorageConfig", "create_store", "User", "Match", "Page", "StoreError",
           "UserNotFound", "UserExists", "StorageUnavailable", "InvalidEmbedding", "InvalidRequest",
           "StoreConfigError", "CorruptData", "RotationIncomplete", "ModelMismatch"]
