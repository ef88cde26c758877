"""Images checked without Docker: rebuild an image's file set from its Dockerfile (or a deployment
package), install its requirements into a cached, isolated virtualenv, and start its entrypoints
with nothing else importable. Used by ``tests/assets/images``.
"""
