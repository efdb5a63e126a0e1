from condet.cli import main

# guarded: a worker process of `condet experiment --jobs N` imports this module again
if __name__ == "__main__":
    raise SystemExit(main())
