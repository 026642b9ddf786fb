"""The benchmark: uploads side by side on the embedded cloud."""
