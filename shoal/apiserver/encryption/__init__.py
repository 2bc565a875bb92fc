"""Encryption at rest: upstream's EncryptionConfiguration over the store's values.

``config`` reads ``apiserver.config.k8s.io/v1`` EncryptionConfiguration into,
per resource, an ordered list of transformers (pure); ``providers`` holds the
ciphers (aescbc, aesgcm, secretbox, identity) in upstream's storage formats;
``store`` wraps the store the API server uses so that every value written
for a configured resource is encrypted and every value read (get, list,
watch: the watch caches and lists see plaintext) is decrypted.
"""
