"""Export files: column definitions, writers and the job runner."""
