"""Running the dashboard as a host does: several processes behind nginx (serve.py, nginx.conf.template)."""
