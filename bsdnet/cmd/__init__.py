"""The console scripts: bsdnet-NAME is NAME.py's main() (dashes become
underscores).  Options, --help and output live here; the work is done by
the packages they import."""
