def cut_onion(start_t=0, stop_t=5.60):
    # The actions performed right before this were "take knife" and "put onion". The action
    # performed right after this was "put knife"
    # objects = [onion, knife, board_chopping]
    # Holding knife at start.
    # Grabbed onion at time(s) 0.40
    # Heard sound of cut at time 0.90 sec to 5.20 sec
    # 1: hold the onion steady on the chopping board
    if not in_hand("onion"):
        grasp("onion")
    position("onion", "board_chopping")
    # 2: slice until it is cut
    while not is_cut("onion"):
        use("knife", "onion")
    assert is_cut("onion")
