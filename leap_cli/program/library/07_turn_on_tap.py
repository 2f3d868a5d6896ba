def turn_on_tap(start_t=0, stop_t=1.05):
    # The action performed right before this was "take pan". The action performed right after
    # this was "rinse pan"
    # objects = [tap, pan, sink]
    # Holding pan at start.
    # Grabbed tap at time(s) 0.30
    # Released tap at time(s) 0.85
    # Heard sound of water at time 0.80 sec to 1.05 sec
    # 1: turn the tap's handle with the free hand
    if not is_on("tap"):
        grasp("tap")
        use("tap")
        release("tap")
        assert is_on("tap")
