"""Helper package imported by modules_main.py: a profiled file below the script's directory."""
