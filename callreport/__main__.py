"""`python -m callreport`: the same command line as the `callreport` script."""

from callreport.cli import main

if __name__ == "__main__":
    main()
