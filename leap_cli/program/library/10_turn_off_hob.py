def turn_off_hob(start_t=0, stop_t=1.20):
    # The action performed right before this was "stir pasta". The action performed right after
    # this was "take plate"
    # objects = [hob, pan, knob]
    # Holding nothing at start.
    # Grabbed knob at time(s) 0.45
    # Released knob at time(s) 0.95
    # Heard sound of click at time 0.80 sec to 0.90 sec
    # 1: turn the hob's knob to off
    if is_on("hob"):
        grasp("knob")
        use("knob", "hob")
        release("knob")
        assert not is_on("hob")
