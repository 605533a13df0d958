"""Tests of the op families, one file a family (qconv/ops.py `Op.family`): tests/ops/test_<family>.py."""
