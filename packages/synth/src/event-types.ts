/** Event types in the order of their numeric codes, as written to the event_type column. */
export const EVENT_TYPES = ['view', 'cart', 'purchase', 'wishlist', 'camera_search', 'sign_up'] as const;

export type EventTypeName = (typeof EVENT_TYPES)[number];

export const VIEW = 0;
export const CART = 1;
export const PURCHASE = 2;
export const WISHLIST = 3;
export const CAMERA_SEARCH = 4;
export const SIGN_UP = 5;
