"""Dies of an uncaught exception two frames deep."""


def fail():
    raise ValueError("boom")  # @raise


def main():
    print("about to fail", flush=True)
    fail()  # @call_fail


main()  # @call_main
