"""Readers and writers of dependency declarations: PEP 723 blocks, notebook metadata, project files."""
