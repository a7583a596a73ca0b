from geosiam.geometry import bounds_overlap


def test_boxes_sharing_area_overlap():
    assert bounds_overlap((0, 0, 10, 10), (5, 5, 15, 15))
    assert bounds_overlap((0, 0, 10, 10), (2, 2, 3, 3))


def test_boxes_touching_or_apart_do_not_overlap():
    assert not bounds_overlap((0, 0, 10, 10), (10, 0, 20, 10))
    assert not bounds_overlap((0, 0, 10, 10), (0, 10, 10, 20))
    assert not bounds_overlap((0, 0, 10, 10), (11, 11, 20, 20))
