/**
 * The fixed product tree of the generated catalog: product line -> category ->
 * subcategory. Names are unique across the whole tree, so a subcategory name alone
 * identifies its category and product line. Within each list the order is the
 * popularity order: the first entry is the most popular (Zipf over the listed rank).
 */
export interface TaxonomyNode {
  name: string;
  children: readonly TaxonomyNode[];
}

/** A subcategory whose purchase is often followed by a look at related subcategories. */
export interface ComplementRule {
  /** Subcategory of the purchased item. */
  subcategory: string;
  /** Complement subcategories, most likely first. The weight of the j-th is proportional to 1/j. */
  complements: readonly string[];
}

/** A subcategory whose items are used up and bought again after about `intervalDays`. */
export interface ConsumableRule {
  subcategory: string;
  intervalDays: number;
}

function line(name: string, categories: Record<string, readonly string[]>): TaxonomyNode {
  return {
    name,
    children: Object.entries(categories).map(([category, subcategories]) => ({
      name: category,
      children: subcategories.map((subcategory) => ({ name: subcategory, children: [] })),
    })),
  };
}

export const TAXONOMY: readonly TaxonomyNode[] = [
  line('electronics', {
    smartphone: ['phone', 'phone_case', 'phone_charger', 'screen_protector', 'power_bank'],
    audio: ['headphones', 'earbuds', 'bluetooth_speaker', 'soundbar', 'ear_tips'],
    tv_video: ['television', 'streaming_device', 'tv_mount', 'hdmi_cable', 'projector'],
    camera: ['digital_camera', 'memory_card', 'camera_lens', 'camera_bag', 'tripod'],
    wearables: ['smartwatch', 'fitness_tracker', 'watch_band', 'smart_ring'],
  }),
  line('fashion', {
    womens_clothing: ['dress', 'blouse', 'womens_jeans', 'womens_coat', 'skirt'],
    mens_clothing: ['shirt', 'mens_jeans', 'suit', 'mens_coat', 'tie'],
    shoes: ['sneakers', 'boots', 'sandals', 'shoe_care', 'insoles'],
    accessories: ['handbag', 'wallet', 'belt', 'sunglasses', 'wristwatch'],
    underwear: ['socks', 'briefs', 'tights', 'bra'],
  }),
  line('home', {
    furniture: ['sofa', 'desk', 'office_chair', 'bookshelf', 'bed_frame'],
    bedding: ['mattress', 'pillow', 'bed_sheets', 'duvet', 'mattress_protector'],
    decor: ['lamp', 'rug', 'curtains', 'wall_art', 'candle'],
    cleaning: ['detergent', 'vacuum_cleaner', 'trash_bags', 'vacuum_bags', 'mop'],
  }),
  line('grocery', {
    coffee_tea: ['ground_coffee', 'coffee_beans', 'tea'],
    snacks: ['chocolate', 'chips', 'nuts'],
    beverages: ['sparkling_water', 'soft_drinks', 'juice'],
    pantry: ['pasta', 'cereal', 'olive_oil', 'rice'],
  }),
  line('beauty', {
    skincare: ['moisturizer', 'cleanser', 'sunscreen', 'serum'],
    makeup: ['lipstick', 'mascara', 'foundation', 'makeup_brush'],
    haircare: ['shampoo', 'conditioner', 'hair_dryer', 'hair_straightener'],
    fragrance: ['perfume', 'aftershave'],
    shaving: ['razor', 'razor_blades', 'shaving_foam'],
  }),
  line('computers', {
    laptop: ['laptop_computer', 'laptop_bag', 'laptop_stand', 'docking_station'],
    peripherals: ['monitor', 'keyboard', 'mouse', 'webcam', 'mouse_pad'],
    storage: ['external_drive', 'usb_stick', 'ssd'],
    printing: ['printer', 'ink_cartridge', 'printer_paper', 'toner'],
    networking: ['router', 'mesh_system', 'network_cable'],
  }),
  line('kitchen', {
    appliances: ['coffee_machine', 'coffee_capsules', 'air_fryer', 'blender', 'kettle', 'toaster'],
    cookware: ['frying_pan', 'saucepan', 'cookware_set', 'pan_lid'],
    tableware: ['mugs', 'plates', 'glasses', 'cutlery'],
    food_storage: ['food_containers', 'lunch_box', 'cling_film'],
  }),
  line('sports', {
    fitness: ['yoga_mat', 'dumbbells', 'protein_powder', 'resistance_bands', 'shaker_bottle'],
    cycling: ['bicycle', 'bike_helmet', 'bike_lock', 'bike_light', 'inner_tube'],
    running: ['running_shoes', 'running_shorts', 'running_belt', 'energy_gel'],
    camping: ['tent', 'sleeping_bag', 'camping_stove', 'headlamp', 'gas_canister'],
  }),
  line('toys', {
    building: ['construction_set', 'marble_run', 'magnetic_tiles'],
    dolls: ['doll', 'doll_house', 'doll_clothes'],
    games: ['board_game', 'puzzle', 'card_game'],
    outdoor_play: ['scooter', 'trampoline', 'water_gun'],
    electronic_toys: ['rc_car', 'drone', 'robot_kit'],
  }),
  line('books', {
    fiction: ['novel', 'crime_novel', 'fantasy_novel', 'comic'],
    nonfiction: ['biography', 'cookbook', 'history_book', 'self_help'],
    childrens_books: ['picture_book', 'young_adult'],
    education: ['textbook', 'language_course'],
  }),
  line('pets', {
    dog: ['dog_food', 'dog_treats', 'dog_toy', 'dog_bed', 'dog_leash'],
    cat: ['cat_food', 'cat_litter', 'cat_toy', 'scratching_post'],
    aquarium: ['aquarium_tank', 'fish_food', 'aquarium_filter'],
  }),
  line('baby', {
    diapering: ['diapers', 'baby_wipes', 'changing_mat'],
    feeding: ['baby_formula', 'baby_bottle', 'high_chair', 'bibs'],
    baby_gear: ['stroller', 'car_seat', 'baby_carrier', 'stroller_rain_cover'],
  }),
  line('health', {
    personal_care: ['toothpaste', 'electric_toothbrush', 'toothbrush_heads', 'dental_floss'],
    vitamins: ['multivitamin', 'vitamin_d', 'fish_oil'],
    first_aid: ['bandages', 'thermometer', 'first_aid_kit'],
  }),
  line('garden', {
    garden_tools: ['lawn_mower', 'garden_hose', 'hedge_trimmer', 'shears'],
    outdoor_living: ['bbq_grill', 'garden_chair', 'parasol', 'bbq_charcoal'],
    plants: ['houseplant', 'plant_pot', 'flower_seeds', 'bulbs'],
    plant_care: ['potting_soil', 'fertilizer', 'pesticide'],
  }),
  line('automotive', {
    car_electronics: ['dash_cam', 'car_charger', 'phone_mount', 'gps_navigator'],
    car_parts: ['wiper_blades', 'motor_oil', 'car_battery', 'air_filter'],
    car_care: ['car_shampoo', 'car_wax', 'microfiber_cloth'],
  }),
];

export const COMPLEMENT_RULES: readonly ComplementRule[] = [
  { subcategory: 'phone', complements: ['phone_case', 'screen_protector', 'phone_charger'] },
  { subcategory: 'television', complements: ['tv_mount', 'soundbar', 'hdmi_cable'] },
  { subcategory: 'digital_camera', complements: ['memory_card', 'camera_bag', 'camera_lens'] },
  { subcategory: 'smartwatch', complements: ['watch_band', 'phone_charger'] },
  { subcategory: 'headphones', complements: ['ear_tips'] },
  { subcategory: 'dress', complements: ['handbag', 'sandals'] },
  { subcategory: 'suit', complements: ['shirt', 'tie', 'belt'] },
  { subcategory: 'sneakers', complements: ['socks', 'shoe_care'] },
  { subcategory: 'mattress', complements: ['mattress_protector', 'bed_sheets', 'pillow'] },
  { subcategory: 'vacuum_cleaner', complements: ['vacuum_bags'] },
  { subcategory: 'razor', complements: ['razor_blades', 'shaving_foam'] },
  { subcategory: 'laptop_computer', complements: ['laptop_bag', 'mouse', 'docking_station'] },
  { subcategory: 'printer', complements: ['ink_cartridge', 'printer_paper'] },
  { subcategory: 'monitor', complements: ['hdmi_cable', 'keyboard'] },
  { subcategory: 'coffee_machine', complements: ['coffee_capsules', 'mugs'] },
  { subcategory: 'frying_pan', complements: ['pan_lid'] },
  { subcategory: 'bicycle', complements: ['bike_helmet', 'bike_lock', 'bike_light'] },
  { subcategory: 'running_shoes', complements: ['running_shorts', 'socks'] },
  { subcategory: 'tent', complements: ['sleeping_bag', 'camping_stove', 'headlamp'] },
  { subcategory: 'camping_stove', complements: ['gas_canister'] },
  { subcategory: 'drone', complements: ['memory_card'] },
  { subcategory: 'aquarium_tank', complements: ['aquarium_filter', 'fish_food'] },
  { subcategory: 'baby_bottle', complements: ['baby_formula'] },
  { subcategory: 'stroller', complements: ['stroller_rain_cover', 'car_seat'] },
  { subcategory: 'electric_toothbrush', complements: ['toothbrush_heads', 'toothpaste'] },
  { subcategory: 'bbq_grill', complements: ['bbq_charcoal'] },
  { subcategory: 'dash_cam', complements: ['memory_card', 'car_charger'] },
];

export const CONSUMABLE_RULES: readonly ConsumableRule[] = [
  { subcategory: 'detergent', intervalDays: 30 },
  { subcategory: 'trash_bags', intervalDays: 30 },
  { subcategory: 'vacuum_bags', intervalDays: 60 },
  { subcategory: 'candle', intervalDays: 40 },
  { subcategory: 'ground_coffee', intervalDays: 14 },
  { subcategory: 'coffee_beans', intervalDays: 14 },
  { subcategory: 'tea', intervalDays: 21 },
  { subcategory: 'chocolate', intervalDays: 10 },
  { subcategory: 'chips', intervalDays: 10 },
  { subcategory: 'nuts', intervalDays: 14 },
  { subcategory: 'sparkling_water', intervalDays: 7 },
  { subcategory: 'soft_drinks', intervalDays: 7 },
  { subcategory: 'juice', intervalDays: 7 },
  { subcategory: 'pasta', intervalDays: 21 },
  { subcategory: 'cereal', intervalDays: 14 },
  { subcategory: 'olive_oil', intervalDays: 30 },
  { subcategory: 'rice', intervalDays: 30 },
  { subcategory: 'moisturizer', intervalDays: 45 },
  { subcategory: 'cleanser', intervalDays: 45 },
  { subcategory: 'sunscreen', intervalDays: 60 },
  { subcategory: 'shampoo', intervalDays: 35 },
  { subcategory: 'conditioner', intervalDays: 35 },
  { subcategory: 'razor_blades', intervalDays: 30 },
  { subcategory: 'shaving_foam', intervalDays: 40 },
  { subcategory: 'ink_cartridge', intervalDays: 45 },
  { subcategory: 'printer_paper', intervalDays: 60 },
  { subcategory: 'coffee_capsules', intervalDays: 21 },
  { subcategory: 'cling_film', intervalDays: 45 },
  { subcategory: 'protein_powder', intervalDays: 30 },
  { subcategory: 'energy_gel', intervalDays: 30 },
  { subcategory: 'gas_canister', intervalDays: 60 },
  { subcategory: 'dog_food', intervalDays: 30 },
  { subcategory: 'dog_treats', intervalDays: 21 },
  { subcategory: 'cat_food', intervalDays: 21 },
  { subcategory: 'cat_litter', intervalDays: 14 },
  { subcategory: 'fish_food', intervalDays: 45 },
  { subcategory: 'diapers', intervalDays: 10 },
  { subcategory: 'baby_wipes', intervalDays: 14 },
  { subcategory: 'baby_formula', intervalDays: 10 },
  { subcategory: 'toothpaste', intervalDays: 30 },
  { subcategory: 'toothbrush_heads', intervalDays: 90 },
  { subcategory: 'dental_floss', intervalDays: 45 },
  { subcategory: 'multivitamin', intervalDays: 30 },
  { subcategory: 'vitamin_d', intervalDays: 30 },
  { subcategory: 'fish_oil', intervalDays: 30 },
  { subcategory: 'bandages', intervalDays: 60 },
  { subcategory: 'bbq_charcoal', intervalDays: 30 },
  { subcategory: 'potting_soil', intervalDays: 60 },
  { subcategory: 'fertilizer', intervalDays: 60 },
  { subcategory: 'motor_oil', intervalDays: 90 },
  { subcategory: 'car_shampoo', intervalDays: 60 },
];
