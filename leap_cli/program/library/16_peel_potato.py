def peel_potato(start_t=0, stop_t=8.40):
    # The actions performed right before this were "take peeler" and "take potato". The action
    # performed right after this was "rinse potato"
    # objects = [potato, peeler_potato, bin]
    # Holding peeler_potato and potato at start.
    # Heard sound of scrub at time 0.40 sec to 8.10 sec
    # 1: hold the potato over the bin
    position("potato", "bin")
    # 2: peel strip by strip until the skin is gone
    while not is_peeled("potato"):
        use("peeler_potato", "potato")
    assert is_peeled("potato")
